"""The report: MLflow runs -> tables (tables.py, with the column lists of columns.py; selection.py:
choosing trials without the labels and with them), figures (figures.py; grids.py draws images,
pictures.py a cell's best-trial pictures), one HTML page (sections.py says what it shows, html.py
and templates/ render it) and the folder that holds them all (write.py: `write_report`, and
`log_dataset_run`, the report's only write to MLflow)."""
