module github.com/fluxmap/fluxmap/benchmarks

go 1.26

require github.com/fluxmap/fluxmap v0.0.0-00010101000000-000000000000

require github.com/cespare/xxhash/v2 v2.3.0

replace github.com/fluxmap/fluxmap => ../
