"""A local fake of the WeChat platform. Used by `make run` and the tests; never imported by production code."""
