"""The four domain services. None imports another: they talk over HTTP and events."""
