"""One adapter per MLLM family behind the `Adapter` interface, and the registry that loads them."""
