"""Rule cross_predict: a final model's predictions for every frame of a cross dataset."""

from pathlib import Path

from auflow.cross import predict_cross
from auflow.io.parquet import write_table
from auflow.workflow import log_to, use_threads

log_to(snakemake.log[0])
use_threads(snakemake.threads)
w = snakemake.wildcards
model = Path(snakemake.input.model).parent
# features only: this job never reads a label of the cross dataset
predictions = predict_cross(model, snakemake.input.features)
metadata = {"classifier": w.model, "cross_dataset": w.cross, "model": str(model)}
write_table(predictions, snakemake.output.predictions, metadata)
