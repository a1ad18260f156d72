"""Sample data of the Wujin workspace, for `make demo`, the tests and the benchmarks: generators
that are not part of the shipped `ducha` package."""
