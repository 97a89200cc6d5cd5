-- netpulse-data table, ndt7 rows, in BigQuery (docs/data.md, "The same
-- table in BigQuery"). One row per test; columns, names and order as
-- `netpulse-data table`; definitions as src/data/record_row.c (keep them in
-- step by review: this query has not been run here).
-- Replace `PROJECT.DATASET.ndt7` with the table M-Lab loads netpulse's ndt7
-- datatype into (rows: the record in `raw`, the file in `archiver`).
-- Bounds: a value outside a column's range is NULL, as an empty cell is.
CREATE TEMP FUNCTION in_range(x FLOAT64, hi FLOAT64) AS (IF(x >= 0 AND x <= hi, x, NULL));

WITH tests AS (
  SELECT 'download' AS test, raw.Download AS t, raw.ServerSummary AS ss, raw.StartTime AS top_start,
         archiver.Filename AS file
  FROM `PROJECT.DATASET.ndt7`
  WHERE raw.Download IS NOT NULL
  UNION ALL
  SELECT 'upload', raw.Upload, raw.ServerSummary, raw.StartTime, archiver.Filename
  FROM `PROJECT.DATASET.ndt7`
  WHERE raw.Upload IS NOT NULL
),
last_tcpinfo AS (
  SELECT *,
    -- The last server measurement, as the C tool reads it.
    (SELECT m.TCPInfo FROM UNNEST(t.ServerMeasurements) AS m WITH OFFSET AS o
     ORDER BY o DESC LIMIT 1) AS ti
  FROM tests
)
SELECT
  'ndt7' AS datatype,
  test,
  FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E*SZ', COALESCE(t.StartTime, top_start), 'UTC') AS start_time,
  t.UUID AS id,
  -- All four server columns from ServerSummary when it is there, never mixed.
  IF(ss IS NOT NULL, in_range(ss.GoodputMbps, 1e7),
     in_range(SAFE_DIVIDE(IF(test = 'download', ti.BytesAcked, ti.BytesReceived) * 8,
                          IF(ti.ElapsedTime > 0, ti.ElapsedTime, NULL)), 1e7)) AS throughput_mbps,
  IF(ss IS NOT NULL, in_range(ss.MinRTTMs, 864e5), in_range(ti.MinRTT / 1000, 864e5)) AS min_rtt_ms,
  IF(ss IS NOT NULL, in_range(ss.LoadedRTTMedianMs, 864e5), NULL) AS server_loaded_rtt_ms,
  CAST(NULL AS FLOAT64) AS client_rpm,
  CAST(NULL AS FLOAT64) AS client_loaded_latency_ms,
  IF(ss IS NOT NULL, in_range(ss.RetransPct, 100),
     IF(test = 'download' AND ti.BytesSent > 0,
        in_range(ti.BytesRetrans * 100 / ti.BytesSent, 100), NULL)) AS retrans_pct,
  file
FROM last_tcpinfo
ORDER BY start_time;
