"""Hours warehouse orchestration: Dagster definitions, resources, partitions, schedules and the CLI."""
