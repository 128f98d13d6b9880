"""API clients for the raw layer, as Dagster resources.

- `clockify.client.ClockifyClient`, `linear.client.LinearClient`: one method per entity, each paging to the
  end and returning the API's JSON records (typed in `clockify.records` / `linear.records`).
- `linear.queries`: every GraphQL document sent to Linear (validated against `linear/schema.graphql`).
- `http`: the shared retry loop (backoff with full jitter, Retry-After, a time and attempt budget).
- `base`: the ConfigurableResource both clients share (timeouts, retry budget, a private session).
- `errors`: `ApiError` and subclasses; one-line messages naming the setting to fix, never a key.
"""
