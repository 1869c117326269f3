"""Run records (one report shape for every stage), masked logs and reports."""
