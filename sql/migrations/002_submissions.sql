-- Monthly progress submissions: every file received, its receipt, and the figures it brought.

-- One row per distinct file outcome. A byte-identical file sent again adds no row.
CREATE SEQUENCE submission_id_seq START 1;
CREATE TABLE submissions (
    submission_id INTEGER PRIMARY KEY,
    sha256        VARCHAR NOT NULL,
    file_name     VARCHAR NOT NULL,           -- the name it was sent under
    archive_path  VARCHAR NOT NULL,           -- the unchanged copy, under its SHA-256
    unit          VARCHAR,                    -- NULL when it could not be identified
    period        VARCHAR,                    -- YYYY-MM, NULL when it could not be identified
    status        VARCHAR NOT NULL,           -- accepted / rejected
    supersedes    INTEGER,                    -- the accepted submission this one replaced
    superseded_by INTEGER,                    -- set when a later file for the same unit and period arrives
    received_at   TIMESTAMP NOT NULL,         -- when the file arrived (its modification time)
    ingested_at   TIMESTAMP NOT NULL,
    rows          INTEGER NOT NULL,           -- metric and task rows accepted
    reporter      VARCHAR,                    -- 填报人 / 电话 line, as written
    receipt       VARCHAR NOT NULL            -- the receipt text (回执) sent back to the unit
);

-- The receipt (回执): each problem found in a file, accepted or not.
CREATE TABLE submission_problems (
    submission_id INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    sheet         VARCHAR,
    cell          VARCHAR,
    severity      VARCHAR NOT NULL,           -- error / warning
    message       VARCHAR NOT NULL,
    PRIMARY KEY (submission_id, seq)
);

-- Figures per metric from accepted submissions.
CREATE TABLE progress_metrics (
    submission_id    INTEGER NOT NULL,
    unit             VARCHAR NOT NULL,
    period           VARCHAR NOT NULL,
    task_id          VARCHAR NOT NULL,
    position         INTEGER NOT NULL,
    month_value      DOUBLE,                  -- 本月完成
    cumulative_value DOUBLE,                  -- 累计完成 (for growth / level: the rate or level reported)
    sheet            VARCHAR NOT NULL,
    row_no           INTEGER NOT NULL,
    match_method     VARCHAR NOT NULL,        -- task_id / seq / text / fuzzy
    match_score      DOUBLE NOT NULL,
    PRIMARY KEY (submission_id, task_id, position)
);

-- Narrative and declared status per task from accepted submissions.
CREATE TABLE progress_tasks (
    submission_id INTEGER NOT NULL,
    unit          VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    task_id       VARCHAR NOT NULL,
    status        VARCHAR,                    -- done / on_schedule / behind / not_started (已完成 / 序时推进 / 滞后 / 未启动)
    progress      VARCHAR,                    -- 进展情况
    issues        VARCHAR,                    -- 存在问题
    next_steps    VARCHAR,                    -- 下步打算
    PRIMARY KEY (submission_id, task_id)
);

-- The submission each unit's figures for a period come from: the latest accepted one.
CREATE VIEW latest_submissions AS
SELECT *
FROM submissions
WHERE status = 'accepted' AND superseded_by IS NULL;
