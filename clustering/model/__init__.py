"""A cell's best pipeline as an MLflow model: fitted stages kept when trained (fitted), the
pyfunc wrapper with its signature and input checks (pyfunc), logging it on the cell run (log),
the dataset's winner in the Model Registry (registry) and labels for new images (predict)."""
