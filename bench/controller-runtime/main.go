// The controller-runtime side of bench/controller.ts: the same small controller as the
// kubevisor side (bench/controller.ts, child mode), written the way a Go user would with
// controller-runtime v0.22 (k8s.io v0.34): a typed Site (example.com/v1, the CRD of
// examples/reconcile.ts) reconciled into an owned ConfigMap holding spec.pages, through
// controllerutil.CreateOrUpdate against the manager's cache.
//
// Flags set what both sides must share: MaxConcurrentReconciles, the client's QPS/Burst
// (rest.Config; -qps -1 disables client-side throttling, as client-go does for QPS < 0),
// and the controller's default work queue rate limiter (per-item exponential 5 ms..1000 s,
// max-of a 10 qps / 100 burst bucket) — left as controller-runtime's default on purpose.
//
// It prints JSON lines on stdout: {"ready":true} once the caches have synced and the
// controller runs, then {"stats":...} every -stats interval and on SIGTERM (reconcile
// count, errors, Go heap from runtime.ReadMemStats). The harness measures convergence
// itself, from the API server side.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Site is example.com/v1 Site: spec.pages is the ConfigMap's data.
type Site struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SiteSpec `json:"spec,omitempty"`
}

// SiteSpec is the wanted content of a Site.
type SiteSpec struct {
	Pages map[string]string `json:"pages,omitempty"`
}

// SiteList is a list of Sites.
type SiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Site `json:"items"`
}

// DeepCopyObject (hand-written; controller-gen would generate it).
func (s *Site) DeepCopyObject() k8sruntime.Object {
	out := &Site{TypeMeta: s.TypeMeta}
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if s.Spec.Pages != nil {
		out.Spec.Pages = make(map[string]string, len(s.Spec.Pages))
		for k, v := range s.Spec.Pages {
			out.Spec.Pages[k] = v
		}
	}
	return out
}

// DeepCopyObject (hand-written; controller-gen would generate it).
func (l *SiteList) DeepCopyObject() k8sruntime.Object {
	out := &SiteList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	out.Items = make([]Site, len(l.Items))
	for i := range l.Items {
		out.Items[i] = *l.Items[i].DeepCopyObject().(*Site)
	}
	return out
}

var groupVersion = schema.GroupVersion{Group: "example.com", Version: "v1"}

type reconciler struct {
	client     client.Client
	scheme     *k8sruntime.Scheme
	reconciles atomic.Int64
	errors     atomic.Int64
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.reconciles.Add(1)
	var site Site
	if err := r.client.Get(ctx, req.NamespacedName, &site); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // the ConfigMap is left to the garbage collector
		}
		r.errors.Add(1)
		return ctrl.Result{}, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site-" + site.Name, Namespace: site.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.client, cm, func() error {
		if err := controllerutil.SetControllerReference(&site, cm, r.scheme); err != nil {
			return err
		}
		data := make(map[string]string, len(site.Spec.Pages))
		for k, v := range site.Spec.Pages {
			data[k] = v
		}
		cm.Data = data
		return nil
	})
	if err != nil {
		r.errors.Add(1)
	}
	return ctrl.Result{}, err
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func (r *reconciler) stats() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	emit(map[string]any{"stats": map[string]any{
		"reconciles": r.reconciles.Load(),
		"errors":     r.errors.Load(),
		"heapUsed":   m.HeapAlloc,
		"heapTotal":  m.HeapSys,
		"sys":        m.Sys,
	}})
}

func main() {
	// -kubeconfig is controller-runtime's own flag (pkg/client/config registers it).
	namespace := flag.String("namespace", "default", "namespace of the Sites")
	concurrency := flag.Int("concurrency", 2, "MaxConcurrentReconciles")
	qps := flag.Float64("qps", -1, "client QPS (-1: no client-side limit)")
	burst := flag.Int("burst", 0, "client burst")
	statsEvery := flag.Duration("stats", time.Second, "stats interval")
	flag.Parse()
	log.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapLevel())))

	config, err := clientcmd.BuildConfigFromFlags("", flag.Lookup("kubeconfig").Value.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	config.QPS = float32(*qps)
	config.Burst = *burst

	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	scheme.AddKnownTypes(groupVersion, &Site{}, &SiteList{})
	metav1.AddToGroupVersion(scheme, groupVersion)

	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	r := &reconciler{client: mgr.GetClient(), scheme: scheme}
	err = builder.ControllerManagedBy(mgr).
		Named("site-pages").
		For(&Site{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: *concurrency}).
		Complete(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			emit(map[string]any{"ready": true})
		}
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.stats()
			}
		}
	}()
	if err := mgr.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.stats()
}

func zapLevel() zapcore.Level {
	if os.Getenv("BENCH_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
