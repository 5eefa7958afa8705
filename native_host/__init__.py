"""Native messaging host between the browser extension and the companion (see DESIGN.md)."""
