"""Rule join_dataset: features of every shard joined with every subject's labels."""

from auflow.io.dataset import concat_tables, join_features_labels
from auflow.io.parquet import read_metadata, write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
features = concat_tables(snakemake.input.features)
labels = concat_tables(snakemake.input.labels)
dataset = join_features_labels(features, labels)
write_table(dataset, snakemake.output.dataset, read_metadata(snakemake.input.features[0]))
