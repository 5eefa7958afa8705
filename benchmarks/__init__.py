"""Measurements that print tables; never timed assertions in tests."""
