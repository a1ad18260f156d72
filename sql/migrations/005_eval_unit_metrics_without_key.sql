-- eval_unit_metrics grows by (units × metrics) every month; its 4-column primary key made each
-- store commit slow (1.3 s at 450k rows a month). Rows of a period are only ever replaced whole
-- (DELETE … WHERE period = ? then INSERT, in one transaction), so the key is dropped.
CREATE TABLE eval_unit_metrics_new AS SELECT * FROM eval_unit_metrics;
DROP TABLE eval_unit_metrics;
ALTER TABLE eval_unit_metrics_new RENAME TO eval_unit_metrics;
