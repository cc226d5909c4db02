"""The generated documents: the AsyncAPI event contract, the configuration reference and each service's OpenAPI
document. Each module's ``render`` is what its document must read; a test fails when a committed one is stale."""
