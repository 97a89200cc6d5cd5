-- netpulse-data table, responsiveness1 rows, in BigQuery (docs/data.md,
-- "The same table in BigQuery"). One row per loaded phase (download,
-- upload, parallel) that ClientSummary or ServerSummary has; columns, names
-- and order as `netpulse-data table`; definitions as
-- src/data/record_row.c (keep them in step by review: this query has not
-- been run here).
-- Replace `PROJECT.DATASET.responsiveness1` with the table M-Lab's autoload
-- makes for the datatype (rows: the record in `raw`, the file in
-- `archiver`).
CREATE TEMP FUNCTION in_range(x FLOAT64, hi FLOAT64) AS (IF(x >= 0 AND x <= hi, x, NULL));

SELECT
  'responsiveness1' AS datatype,
  p.test,
  FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E*SZ', r.raw.StartTime, 'UTC') AS start_time,
  r.raw.MeasurementID AS id,
  in_range(p.s.GoodputMbps, 1e7) AS throughput_mbps,
  in_range(p.s.MinRTTMs, 864e5) AS min_rtt_ms,
  in_range(p.s.LoadedRTTMedianMs, 864e5) AS server_loaded_rtt_ms,
  in_range(p.c.RPM, 1e9) AS client_rpm,
  in_range(p.c.LoadedLatencyMs, 864e5) AS client_loaded_latency_ms,
  in_range(p.s.RetransPct, 100) AS retrans_pct,
  r.archiver.Filename AS file
FROM `PROJECT.DATASET.responsiveness1` AS r,
  UNNEST([
    STRUCT('download' AS test, r.raw.ClientSummary.Download AS c, r.raw.ServerSummary.Download AS s),
    STRUCT('upload', r.raw.ClientSummary.Upload, r.raw.ServerSummary.Upload),
    STRUCT('parallel', r.raw.ClientSummary.Parallel, r.raw.ServerSummary.Parallel)
  ]) AS p
WHERE p.c IS NOT NULL OR p.s IS NOT NULL
ORDER BY start_time, id,
  CASE p.test WHEN 'download' THEN 0 WHEN 'upload' THEN 1 ELSE 2 END;
