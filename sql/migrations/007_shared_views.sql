-- Shared models as views (they hold no data: nothing to migrate): who reports what, the latest
-- figures and statements of each unit, and the tasks whose metrics need another review.

-- Who reports what: one row per (year, task, unit) of the active tasks. A unit listed as lead
-- reports as lead (the district figure), a unit listed only as responsible as responsible; a
-- unit listed twice counts once. Templates, ingest, evaluation and notices all read this.
CREATE VIEW assignments AS
WITH active_tasks AS NOT MATERIALIZED (  -- read twice: inlined, so a reader's year reaches the scan
    SELECT year, task_id, lead_units, responsible_units
    FROM tasks
    WHERE active
), leads AS (
    SELECT year, task_id, unnest(list_distinct(lead_units)) AS unit  -- each once, NULLs dropped
    FROM active_tasks
), listed_responsible AS (
    SELECT year, task_id, lead_units, unnest(responsible_units) AS unit
    FROM active_tasks
), responsibles AS (
    SELECT DISTINCT year, task_id, unit
    FROM listed_responsible
    WHERE unit IS NOT NULL AND NOT list_contains(lead_units, unit)
)
SELECT year, task_id, unit, 'lead' AS role FROM leads
UNION ALL
SELECT year, task_id, unit, 'responsible' AS role FROM responsibles;

-- Each unit's cumulative figures per metric and period, from its latest accepted file of that
-- period (blank figures left out).
CREATE VIEW latest_figures AS
WITH figures AS (
    SELECT submission_id, period, unit, task_id, position, cumulative_value
    FROM progress_metrics
), latest AS (
    SELECT submission_id
    FROM latest_submissions
)
SELECT f.period, f.unit, f.task_id, f.position, f.cumulative_value
FROM figures f
JOIN latest l USING (submission_id)
WHERE f.cumulative_value IS NOT NULL;

-- What each unit stated per task and period (declared status, progress, problems, next steps),
-- from its latest accepted file of that period.
CREATE VIEW latest_statements AS
WITH statements AS (
    SELECT submission_id, period, unit, task_id, status, progress, issues, next_steps
    FROM progress_tasks
), latest AS (
    SELECT submission_id
    FROM latest_submissions
)
SELECT s.period, s.unit, s.task_id, s.status, s.progress, s.issues, s.next_steps
FROM statements s
JOIN latest l USING (submission_id);

-- Active tasks whose text changed since their metrics were reviewed.
CREATE VIEW tasks_needing_review AS
WITH active_tasks AS (
    SELECT year, task_id, content_hash, reviewed_hash
    FROM tasks
    WHERE active
)
SELECT year, task_id
FROM active_tasks
WHERE reviewed_hash IS NOT NULL AND reviewed_hash <> content_hash;
