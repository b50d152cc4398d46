"""Rule labels: one subject's labels keyed by (subject, frame)."""

from auflow.io.labels import read_subject_labels
from auflow.io.parquet import write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
fmt = snakemake.params.label_format
source = snakemake.input.labels[0] if fmt == "json" else snakemake.params.labels_dir
labels = read_subject_labels(
    snakemake.wildcards.subject, fmt, source, list(snakemake.input.images), snakemake.params.aus
)
write_table(labels, snakemake.output.labels, {"label_format": fmt, "source": str(source)})
