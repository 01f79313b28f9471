// typedclient drives the embedded API server with client-go's typed clientset speaking
// protobuf (ContentType application/vnd.kubernetes.protobuf, as kubectl and most
// operators configure it), the way a Go operator would: create, get, list, update, watch,
// scale, delete with preconditions, an access review. It exits non-zero with the first
// failure. Run by test/testing/apiserver/typedclient.test.ts:
//
//	go run ./typedclient <kubeconfig>
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func expect(ok bool, format string, args ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}
}

func main() {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	check(err, "kubeconfig")
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	check(err, "clientset")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cms := cs.CoreV1().ConfigMaps("default")

	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "app=typed"})
	check(err, "watch")
	defer w.Stop()

	created, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "typed", Labels: map[string]string{"app": "typed"}},
		Data:       map[string]string{"a": "1"},
		BinaryData: map[string][]byte{"b": {0, 255}},
	}, metav1.CreateOptions{})
	check(err, "create")
	expect(created.UID != "" && created.ResourceVersion != "" && !created.CreationTimestamp.IsZero(), "create: server fields missing: %+v", created.ObjectMeta)

	got, err := cms.Get(ctx, "typed", metav1.GetOptions{})
	check(err, "get")
	expect(got.Data["a"] == "1" && string(got.BinaryData["b"]) == "\x00\xff", "get: data %v %v", got.Data, got.BinaryData)

	got.Data["a"] = "2"
	updated, err := cms.Update(ctx, got, metav1.UpdateOptions{})
	check(err, "update")
	expect(updated.Data["a"] == "2" && updated.ResourceVersion != got.ResourceVersion, "update: %v", updated.Data)

	_, err = cms.Update(ctx, got, metav1.UpdateOptions{}) // stale resourceVersion
	expect(err != nil && fmt.Sprint(err) != "", "stale update: expected a conflict")

	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app=typed"})
	check(err, "list")
	expect(len(list.Items) == 1 && list.Items[0].Name == "typed" && list.ResourceVersion != "", "list: %d items", len(list.Items))

	for _, want := range []watch.EventType{watch.Added, watch.Modified} {
		select {
		case ev := <-w.ResultChan():
			cm, ok := ev.Object.(*corev1.ConfigMap)
			expect(ev.Type == want && ok && cm.Name == "typed", "watch: got %s %T, want %s", ev.Type, ev.Object, want)
		case <-ctx.Done():
			check(ctx.Err(), "watch: waiting for "+string(want))
		}
	}

	replicas := int32(2)
	dep, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "typed"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "typed"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "typed"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}, metav1.CreateOptions{})
	check(err, "create deployment")
	expect(*dep.Spec.Replicas == 2, "deployment replicas %d", *dep.Spec.Replicas)
	scale, err := cs.AppsV1().Deployments("default").GetScale(ctx, "typed", metav1.GetOptions{})
	check(err, "get scale")
	scale.Spec.Replicas = 4
	_, err = cs.AppsV1().Deployments("default").UpdateScale(ctx, "typed", scale, metav1.UpdateOptions{})
	check(err, "update scale")
	dep, err = cs.AppsV1().Deployments("default").Get(ctx, "typed", metav1.GetOptions{})
	check(err, "get deployment")
	expect(*dep.Spec.Replicas == 4, "scaled replicas %d", *dep.Spec.Replicas)

	review, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "configmaps", Namespace: "default"}},
	}, metav1.CreateOptions{})
	check(err, "access review")
	expect(review.Status.Allowed, "access review: not allowed")

	wrong := types.UID("not-the-uid")
	err = cms.Delete(ctx, "typed", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	expect(err != nil, "delete with a wrong uid precondition succeeded")
	check(cms.Delete(ctx, "typed", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &created.UID}}), "delete")
	_, err = cms.Get(ctx, "typed", metav1.GetOptions{})
	expect(err != nil, "get after delete succeeded")
	fmt.Println("ok")
}
