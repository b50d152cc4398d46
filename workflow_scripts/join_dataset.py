"""Rule join_dataset: features of every shard joined with every subject's labels."""

from auflow.io.dataset import concat_tables, join_feature_shards
from auflow.io.parquet import read_metadata, write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
labels = concat_tables(snakemake.input.labels)
# the shards' features are copied into the joined table shard by shard, never held twice
dataset = join_feature_shards(snakemake.input.features, labels)
write_table(dataset, snakemake.output.dataset, read_metadata(snakemake.input.features[0]))
