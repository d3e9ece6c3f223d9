"""The report: MLflow runs -> tables (tables), figures (figures) and one HTML page (html)."""
