"""leadlake: a lead-generation lakehouse."""

__version__ = "0.1.0"
