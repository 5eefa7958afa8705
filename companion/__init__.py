"""ImageProtector's companion: the protection engine, its model adapters and the command line."""

__version__ = "0.1.0"
