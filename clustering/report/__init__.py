"""The report: MLflow runs -> tables (tables.py, with the column lists of columns.py), figures
(figures.py; grids.py draws images, pictures.py a cell's best-trial pictures), one HTML page
(html.py and templates/) and the folder that holds them all (write.py: `write_report`)."""
