"""Rule score: per-AU metrics of one fold's predictions."""

from auflow.evaluation.metrics import score_predictions
from auflow.io.labels import au_column
from auflow.io.parquet import read_table, write_table
from auflow.report import label_metrics
from auflow.workflow import log_to

log_to(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
predictions = read_table(snakemake.input.predictions)
columns = ["subject", "frame", *(au_column(au) for au in p.aus)]
labels = read_table(snakemake.input.dataset, columns=columns)
metrics = score_predictions(predictions, labels, p.aus, p.threshold)
metrics = label_metrics(metrics, w.extractor, w.classifier, w.split, p.leaky, int(w.fold))
write_table(metrics, snakemake.output.metrics)
