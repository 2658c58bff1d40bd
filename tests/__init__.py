"""The test suite (a package, so that ``tests.helpers`` and ``tests.fixtures`` import
the same way from every test file and from the tools the tests run)."""
