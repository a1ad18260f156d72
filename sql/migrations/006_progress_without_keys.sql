-- progress_metrics and progress_tasks grow by every accepted file's rows; upkeep of their
-- primary keys was a quarter of each ingest commit. ingest writes a file's rows once, in the
-- transaction that creates its submission, and never two rows for one (submission, task,
-- metric) or (submission, task): a file that reports a task or metric twice is rejected. The
-- keys are dropped (tests/test_ingest.py checks the uniqueness); the columns stay as they were.
CREATE TABLE progress_metrics_new (
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
    match_score      DOUBLE NOT NULL
);
INSERT INTO progress_metrics_new SELECT * FROM progress_metrics ORDER BY submission_id;
DROP TABLE progress_metrics;
ALTER TABLE progress_metrics_new RENAME TO progress_metrics;

CREATE TABLE progress_tasks_new (
    submission_id INTEGER NOT NULL,
    unit          VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    task_id       VARCHAR NOT NULL,
    status        VARCHAR,                    -- done / on_schedule / behind / not_started (已完成 / 序时推进 / 滞后 / 未启动)
    progress      VARCHAR,                    -- 进展情况
    issues        VARCHAR,                    -- 存在问题
    next_steps    VARCHAR,                    -- 下步打算
);
INSERT INTO progress_tasks_new SELECT * FROM progress_tasks ORDER BY submission_id;
DROP TABLE progress_tasks;
ALTER TABLE progress_tasks_new RENAME TO progress_tasks;
