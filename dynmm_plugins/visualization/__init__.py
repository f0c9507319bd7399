"""Reports: tables, CSV/JSON files and plots."""
