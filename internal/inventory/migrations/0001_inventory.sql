-- Where images run: one row per container of a running pod (Kubernetes)
-- or task (ECS). Admission records pods as it admits them; reporters
-- reconcile a cluster's rows with what it lists, so deleted pods leave.
-- repository and digest are '' for images of other registries.
CREATE TABLE inventory (
	id             {{ID}},
	source         TEXT NOT NULL,
	cluster        TEXT NOT NULL,
	namespace      TEXT NOT NULL,
	workload_kind  TEXT NOT NULL,
	workload_name  TEXT NOT NULL,
	pod            TEXT NOT NULL,
	container      TEXT NOT NULL,
	container_type TEXT NOT NULL,
	image          TEXT NOT NULL,
	repository     TEXT NOT NULL,
	digest         TEXT NOT NULL,
	first_seen     BIGINT NOT NULL,
	last_seen      BIGINT NOT NULL,
	UNIQUE (source, cluster, namespace, pod, container)
);
CREATE INDEX inventory_digest ON inventory (digest);
CREATE INDEX inventory_repository ON inventory (repository);
CREATE INDEX inventory_seen ON inventory (source, cluster, last_seen);
