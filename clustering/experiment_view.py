"""What a dataset's MLflow experiment tells the UI: that it holds model-training runs (so MLflow
3's UI opens it on its runs, not on the GenAI overview), a description of its runs, and a saved
view of the runs table (the cell runs, with the objective and the label-based scores as
columns) that a URL opens: `view_url`."""

import json
import time

from clustering.config import DEFAULT_OBJECTIVE

VIEW_KEY = "benchmark-cells"  # the saved view's id, in its URL's viewStateShareKey
VIEW_NAME = "Benchmark cells"
VIEW_METRICS = (DEFAULT_OBJECTIVE, "hungarian_accuracy", "nmi", "trials_complete")
VIEW_PARAMS = ("extractor", "reducer", "clusterer")
EXPERIMENT_KIND = "custom_model_development"
WORKFLOW = "machine_learning"  # the UI's mode for model training ("genai": its default)
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default

DESCRIPTION = """clustering-bench runs of one dataset.

Each **cell** (extractor x reducer x clusterer, run name `raw-umap-gmm`) is a parent run carrying
its best trial's scores; its Optuna trials are the runs nested under it (`trial-0`, ...), and
repeats of the best configuration `repeat-seed-N`.

Open the **Benchmark cells** view (Views menu) to see the cells with the
label-free objective the studies chose by, `hungarian_accuracy` and `nmi` (scores that use the
labels) as columns. Sort by a column to rank the cells; tick cells and press **Compare** to set
them side by side. The best trial's parameters are the cell's `best.*` tags; each cell's model
is under Models, named after the cell."""


def column_key(kind: str, name: str) -> str:
    """The runs table's key of a column: "metrics.`nmi`", "attributes.`Dataset`"."""
    return f"{kind}.`{name}`"


def view_state(role_tag: str, cell_role: str) -> dict:
    """The runs table's state of the view: cell runs only (those whose `role_tag` is
    `cell_role`), best objective first, with the scores (the table orders them by name) and
    the cell's parts as columns."""
    columns = [column_key("metrics", name) for name in VIEW_METRICS]
    columns += [column_key("params", name) for name in VIEW_PARAMS]
    return {
        "searchFilter": f"tags.`{role_tag}` = '{cell_role}'",
        "orderByKey": column_key("metrics", DEFAULT_OBJECTIVE),
        "orderByAsc": False,
        "selectedColumns": columns,
    }


def saved_view(state: dict) -> str:
    """The experiment tag value of a saved view: the UI's envelope (name, times, state)."""
    now = int(time.time() * 1000)
    return json.dumps(
        {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    )


def view_url(experiment_id: str, base: str = LOCAL_UI) -> str:
    """The URL of the experiment's saved view on the UI at `base`, in the UI's model-training
    mode (else it starts in its GenAI mode, on the traces overview)."""
    query = f"workflowType={WORKFLOW}&viewStateShareKey={VIEW_KEY}"
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"
