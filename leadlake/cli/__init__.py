"""The `leadlake` command line."""
