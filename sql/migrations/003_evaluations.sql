-- Judgements per period. Evaluating a period again replaces that period's rows only.

CREATE TABLE eval_runs (
    period       VARCHAR PRIMARY KEY,
    evaluated_at TIMESTAMP NOT NULL,
    deadline     DATE NOT NULL,
    settings     VARCHAR NOT NULL              -- the thresholds used, as JSON
);

-- District judgement of each metric.
CREATE TABLE eval_metrics (
    period     VARCHAR NOT NULL,
    task_id    VARCHAR NOT NULL,
    position   INTEGER NOT NULL,
    label      VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    bound      VARCHAR NOT NULL,
    measure    VARCHAR NOT NULL,
    target     DOUBLE NOT NULL,
    actual     DOUBLE,
    expected   DOUBLE,
    completion DOUBLE,                        -- actual / target
    gap        DOUBLE,                        -- cumulative: (actual - expected) / target × 100, percentage points
    source     VARCHAR,                       -- lead (the lead unit's own figure) / units (sum of the units)
    carried    BOOLEAN NOT NULL,              -- includes a figure carried forward from an earlier month
    status     VARCHAR NOT NULL,              -- done / on_track / lagging / critical / missing
    streak     INTEGER NOT NULL,              -- consecutive months lagging or critical up to this period
    PRIMARY KEY (period, task_id, position)
);

-- Each reporting unit's judgement per task metric (position 0 = a milestone task).
CREATE TABLE eval_unit_metrics (
    period   VARCHAR NOT NULL,
    unit     VARCHAR NOT NULL,
    task_id  VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    role     VARCHAR NOT NULL,                -- lead / responsible
    target   DOUBLE,                          -- the unit's own target (allocation or share)
    actual   DOUBLE,
    expected DOUBLE,
    carried  BOOLEAN NOT NULL,
    status   VARCHAR NOT NULL,
    PRIMARY KEY (period, unit, task_id, position)
);

CREATE TABLE eval_tasks (
    period        VARCHAR NOT NULL,
    task_id       VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,
    streak        INTEGER NOT NULL,
    lead_units    VARCHAR[] NOT NULL,
    lagging_units VARCHAR[] NOT NULL,
    missing_units VARCHAR[] NOT NULL,
    PRIMARY KEY (period, task_id)
);

CREATE TABLE eval_units (
    period         VARCHAR NOT NULL,
    unit           VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,
    submission     VARCHAR NOT NULL,          -- on_time / late / missing
    received_at    TIMESTAMP,
    judged         INTEGER NOT NULL,
    on_track       INTEGER NOT NULL,
    on_track_share DOUBLE NOT NULL,
    rank           INTEGER NOT NULL,
    PRIMARY KEY (period, unit)
);
