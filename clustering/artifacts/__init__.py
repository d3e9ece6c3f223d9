"""What is drawn while a run goes on: the pictures of a cell's best configuration (arrays in,
matplotlib figures out), logged onto the cell run; the report only copies them."""
