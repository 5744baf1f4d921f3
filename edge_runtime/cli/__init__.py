"""The command line: thin shells over the package API."""
