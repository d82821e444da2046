package config

// What a live change (director ipvsadm) needs from the file's rules.

import "github.com/director-lb/director/control/model"

// DefaultHealth is the health check a service of proto gets when the file
// (or an `ipvsadm -A`) says nothing: a TCP connect for TCP, none for UDP.
func DefaultHealth(proto model.Proto) model.HealthCheck { return configHealthDefault(proto).check }
