"""API clients for the raw layer, as Dagster resources.

- `clockify.ClockifyClient`, `linear.LinearClient`: one method per entity, each paging to the end and
  returning the API's JSON records (typed in `clockify_records` / `linear_records`).
- `linear_queries`: every GraphQL document sent to Linear (validated against `linear_schema.graphql`).
- `http`: the shared retry loop (backoff with full jitter, Retry-After, a time and attempt budget).
- `errors`: `ApiError` and subclasses; one-line messages naming the setting to fix, never a key.
"""
