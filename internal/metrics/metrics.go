// Package metrics exposes Dialtone's Prometheus metrics on an injected registry: operations by
// type and result, operation latency, events delivered, commit latency and batch sizes, webhook
// and push deliveries, pushes shortened to fit, kicks by reason, plus gauges read from the components
// (sessions, deadlines pending, whether the store takes writes). The other packages do not import
// Prometheus: they call the small observer interfaces they declare, which *Metrics implements. Every
// metric is listed in the README's table and docs/operations.md "Metrics"; tests hold both to it.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone/dialtone/protocol"
)

// Metrics records the server's counters and histograms.
type Metrics struct {
	ops           *prometheus.CounterVec
	opSeconds     *prometheus.HistogramVec
	events        prometheus.Counter
	commitSeconds prometheus.Histogram
	commitBatch   prometheus.Histogram
	outbox        *prometheus.CounterVec
	deadlineLate  prometheus.Histogram
	pushShortened prometheus.Counter
	kicks         *prometheus.CounterVec
}

// latencyBuckets spans 50 µs to about 1.6 s: a durable operation takes about a disk flush.
func latencyBuckets() []float64 { return prometheus.ExponentialBuckets(50e-6, 2, 16) }

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_operations_total", Help: "WebSocket requests answered, by op (\"unknown\" for ops the server does not know and frames that are no request) and result code (0 = success).",
		}, []string{"op", "code"}),
		opSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dialtone_operation_seconds", Help: "Time from a WebSocket request's arrival to its reply, by op (a login's includes its catch-up).",
			Buckets: latencyBuckets(),
		}, []string{"op"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_events_delivered_total", Help: "Call events written to client connections (live and replayed; not kicked).",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dialtone_commit_seconds", Help: "Time a decision waits for its durable commit (group commit included).",
			Buckets: latencyBuckets(),
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dialtone_commit_batch_changes",
			Help:    "Changes per transaction the store committed (group commit, one fsync each; at most 256): the count is the transactions, the sum the changes.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9),
		}),
		outbox: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_outbox_attempts_total",
			Help: "Webhook and push deliveries by kind and result: delivered, failed (will retry), dropped (expired or refused).",
		}, []string{"kind", "result"}),
	}
	m.deadlineLate = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "dialtone_deadline_lateness_seconds", Help: "From a ring deadline or not-received check to its change being durable.",
		Buckets: latencyBuckets(),
	})
	m.pushShortened = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dialtone_push_shortened_total",
		Help: "Pushes sent shortened (payload dropped, text cut) to fit their provider's size limit, one per target.",
	})
	m.kicks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_kicks_total",
		Help: "Connections kicked, by reason (the kicked event's: replaced, logout, shutdown, heartbeatTimeout, …).",
	}, []string{"reason"})
	for _, reason := range protocol.KickReasons() {
		m.kicks.WithLabelValues(reason) // every reason shown from the start, at 0
	}
	reg.MustRegister(m.ops, m.opSeconds, m.events, m.commitSeconds, m.commitBatch, m.deadlineLate, m.outbox, m.pushShortened,
		m.kicks)
	return m
}

// Serves shows each op's success count and latency at 0 until it is counted: a series that
// appears only at its first increment hides that increment from increase() and rate().
// Refusals appear at their first: their codes are too many to show all.
func (m *Metrics) Serves(ops []string) {
	for _, op := range ops {
		m.ops.WithLabelValues(op, "0")
		m.opSeconds.WithLabelValues(op)
	}
}

// Op records one answered operation.
func (m *Metrics) Op(op string, code int, d time.Duration) {
	m.ops.WithLabelValues(op, strconv.Itoa(code)).Inc()
	m.opSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// EventsDelivered counts n events written to connections.
func (m *Metrics) EventsDelivered(n int) { m.events.Add(float64(n)) }

// Deadline records how late a fired deadline's change was committed.
func (m *Metrics) Deadline(d time.Duration) { m.deadlineLate.Observe(d.Seconds()) }

// Commit records how long one commit took.
func (m *Metrics) Commit(d time.Duration) { m.commitSeconds.Observe(d.Seconds()) }

// CommitBatch records the number of changes of one committed transaction.
func (m *Metrics) CommitBatch(changes int) { m.commitBatch.Observe(float64(changes)) }

// OutboxKind shows each result of the deliveries of kind (webhook, push) at 0 until it is
// counted: a series that appears only at its first increment hides that increment from
// increase() and rate(). Call it for each configured kind.
func (m *Metrics) OutboxKind(kind string) {
	for _, result := range []string{"delivered", "failed", "dropped"} {
		m.outbox.WithLabelValues(kind, result)
	}
}

// OutboxDelivered counts a delivered webhook or push.
func (m *Metrics) OutboxDelivered(kind string) { m.outbox.WithLabelValues(kind, "delivered").Inc() }

// OutboxFailed counts a failed attempt that will be retried.
func (m *Metrics) OutboxFailed(kind string) { m.outbox.WithLabelValues(kind, "failed").Inc() }

// OutboxDropped counts a record given up.
func (m *Metrics) OutboxDropped(kind string) { m.outbox.WithLabelValues(kind, "dropped").Inc() }

// PushShortened counts a push shortened to fit its provider's size limit.
func (m *Metrics) PushShortened() { m.pushShortened.Inc() }

// Kicked counts a connection kicked for reason.
func (m *Metrics) Kicked(reason string) { m.kicks.WithLabelValues(reason).Inc() }

// Gauge registers a gauge whose value is read from f at each scrape.
func Gauge(reg prometheus.Registerer, name, help string, f func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}
