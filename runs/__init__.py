"""One pipeline run, end to end: the package the scheduler and `flask pipeline run` call.

| module       | owns                                                                        |
|--------------|-----------------------------------------------------------------------------|
| `guard`      | `run_guarded`: lock, status, heartbeat, log forwarding around the work; the watchdog |
| `lock`       | the heartbeat thread that keeps the Redis lock while the run works          |
| `publish`    | status and events to Redis (`Publisher`), the stages' `progress` callable   |
| `logs`       | the run's log lines forwarded to the event stream                           |
| `stages`     | the stage sequence: fetch → parse → match → problems → import → review      |
| `review`     | the review hooks around matching and import                                 |
| `webhooks`   | the run's webhook deliveries (targets and problems from `app.services.feeds`) |
| `record`     | the run's row in `pipeline_runs`: its one writer                            |
| `errors`     | why a run did not start or stopped early                                    |
| `cli`        | `flask pipeline run`, and `create_app` for the `flask` command (FLASK_APP)  |

Dependency direction: `scheduler → runs → app → database → pipeline`, never back
(tests/unit/test_import_rules.py). The app never imports `runs`: it queues run requests and reads
the status through the Redis contract (`app.coordination`, `app.services.pipeline_state`) and
reads run rows from the database (`app.services.run_history`).
"""
