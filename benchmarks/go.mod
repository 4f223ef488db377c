module github.com/fluxmap/fluxmap/benchmarks

go 1.26

require github.com/fluxmap/fluxmap v0.0.0-00010101000000-000000000000

require github.com/cespare/xxhash/v2 v2.3.0

require (
	github.com/panjf2000/ants/v2 v2.12.1 // indirect
	golang.org/x/sync v0.11.0 // indirect
)

replace github.com/fluxmap/fluxmap => ../
