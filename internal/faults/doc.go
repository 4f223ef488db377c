// Package faults holds switches that break the engine on purpose, so tests
// can prove that the isolation checker notices. Nothing in production sets
// them; every switch is off by default and costs one branch when off.
//
// This package is internal and carries no compatibility promise.
package faults
