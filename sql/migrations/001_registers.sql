-- Units register snapshot, the target register with history, and metrics.
CREATE TABLE units (
    name    VARCHAR PRIMARY KEY,
    kind    VARCHAR NOT NULL,
    aliases VARCHAR[] NOT NULL
);

-- One row per import of a decomposition table.
CREATE SEQUENCE import_id_seq START 1;
CREATE TABLE imports (
    import_id     INTEGER PRIMARY KEY,
    year          INTEGER NOT NULL,
    source_file   VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    imported_at   TIMESTAMP NOT NULL,
    added         INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    removed       INTEGER NOT NULL,
    unchanged     INTEGER NOT NULL
);

-- The current target register. Removed tasks stay with active = false.
CREATE TABLE tasks (
    task_id           VARCHAR PRIMARY KEY,    -- 2026-017
    year              INTEGER NOT NULL,
    seq               INTEGER,                -- position in the latest table, NULL once removed
    goal              VARCHAR NOT NULL,
    content           VARCHAR NOT NULL,
    leaders           VARCHAR[] NOT NULL,
    lead_units        VARCHAR[] NOT NULL,
    responsible_units VARCHAR[] NOT NULL,
    responsible_text  VARCHAR NOT NULL,       -- the 责任单位 cell as written
    related_pending   BOOLEAN NOT NULL,       -- 相关单位 with no list in config yet
    content_hash      VARCHAR NOT NULL,
    reviewed_hash     VARCHAR,                -- content hash the metrics were confirmed against
    active            BOOLEAN NOT NULL,
    import_id         INTEGER NOT NULL
);

-- Every version of every task, one row per import that added, changed or removed it.
CREATE TABLE task_history (
    task_id           VARCHAR NOT NULL,
    import_id         INTEGER NOT NULL,
    change            VARCHAR NOT NULL,       -- added / changed / removed
    goal              VARCHAR NOT NULL,
    content           VARCHAR NOT NULL,
    leaders           VARCHAR[] NOT NULL,
    lead_units        VARCHAR[] NOT NULL,
    responsible_units VARCHAR[] NOT NULL,
    PRIMARY KEY (task_id, import_id)
);

-- Metrics of each task: proposals (confirmed = false) or reviewed (true).
CREATE TABLE metrics (
    task_id  VARCHAR NOT NULL,
    position INTEGER NOT NULL,                -- 1-based within the task
    label    VARCHAR NOT NULL,
    value    DOUBLE NOT NULL,
    unit     VARCHAR NOT NULL,
    kind     VARCHAR NOT NULL,                -- cumulative / growth / level
    bound    VARCHAR NOT NULL,                -- at_least / about / at_most
    confirmed BOOLEAN NOT NULL,
    PRIMARY KEY (task_id, position)
);

-- Per-unit shares of a cumulative metric (each unit judged on its own share).
CREATE TABLE metric_allocations (
    task_id  VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    unit     VARCHAR NOT NULL,
    value    DOUBLE NOT NULL,
    PRIMARY KEY (task_id, position, unit)
);

-- A per-metric schedule replacing target × m/12: share (0..1) of the target due by month end.
CREATE TABLE metric_schedule (
    task_id  VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    month    INTEGER NOT NULL,
    share    DOUBLE NOT NULL,
    PRIMARY KEY (task_id, position, month)
);

-- Each reviewed metrics file loaded.
CREATE SEQUENCE review_id_seq START 1;
CREATE TABLE reviews (
    review_id     INTEGER PRIMARY KEY,
    year          INTEGER NOT NULL,
    source_file   VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    loaded_at     TIMESTAMP NOT NULL,
    tasks         INTEGER NOT NULL,
    metrics       INTEGER NOT NULL
);
