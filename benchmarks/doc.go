// Package benchmarks holds FluxMap's public-API micro-benchmarks.
//
// It is a separate module (github.com/fluxmap/fluxmap/benchmarks) so that the
// dependencies of the peer stores it will later be compared against never
// reach the go.mod of fluxmap itself; a replace directive points it at the
// working tree one directory up, so it always measures the code beside it.
//
// Every benchmark builds a fresh in-memory DB with the default shard count
// (GOMAXPROCS) and goes through the public API only, as a user would. Run
// them from the repository root with:
//
//	cd benchmarks && go test -run=^$ -bench=. -benchmem
//
// Vary -cpu (for example -cpu=1,4,16) to see how the parallel benchmarks
// scale; the DB is rebuilt for each setting, so its shard count follows.
package benchmarks
