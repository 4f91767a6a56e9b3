package etcdstore

import (
	"crypto/tls"
	"reflect"
	"testing"
	"time"

	"github.com/rackha/failover/internal/etcdconn"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// conn carries every client field of Config: each field etcdconn.Config
// has must be in Config (this driver offers them all) and reach conn
// unchanged.
func TestConnKeepsEveryField(t *testing.T) {
	var cfg Config
	v := reflect.ValueOf(&cfg).Elem()
	connType := reflect.TypeFor[etcdconn.Config]()
	for i := range connType.NumField() {
		name := connType.Field(i).Name
		f := v.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("Config has no field %s of etcdconn.Config", name)
		}
		f.Set(reflect.ValueOf(distinct(t, name, f.Type(), i)))
	}
	got := reflect.ValueOf(cfg.conn())
	for i := range connType.NumField() {
		name := connType.Field(i).Name
		if !reflect.DeepEqual(got.Field(i).Interface(), v.FieldByName(name).Interface()) {
			t.Errorf("conn().%s = %v, want Config.%s %v", name, got.Field(i), name, v.FieldByName(name))
		}
	}
}

// distinct is a value of type typ telling field i apart from the others.
func distinct(t *testing.T, name string, typ reflect.Type, i int) any {
	t.Helper()
	switch typ {
	case reflect.TypeFor[*clientv3.Client]():
		return &clientv3.Client{}
	case reflect.TypeFor[[]string]():
		return []string{"http://" + name + ":2379"}
	case reflect.TypeFor[*tls.Config]():
		return &tls.Config{ServerName: name}
	case reflect.TypeFor[string]():
		return name
	case reflect.TypeFor[time.Duration]():
		return time.Duration(i+1) * time.Second
	}
	t.Fatalf("field %s: no test value for type %v", name, typ)
	return nil
}
