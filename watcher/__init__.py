"""Folder watcher that protects new photos dropped into chosen folders (see DESIGN.md)."""
