"""Asset builders: raw (one per landing object, from the contract) and the dbt project."""

from orchestration.assets.dbt import build_dbt_assets, dbt_model_keys, load_dbt_project, prepare_manifest
from orchestration.assets.raw import build_raw_assets, daily_partitions, raw_asset_key

__all__ = [
    "build_dbt_assets",
    "build_raw_assets",
    "daily_partitions",
    "dbt_model_keys",
    "load_dbt_project",
    "prepare_manifest",
    "raw_asset_key",
]
