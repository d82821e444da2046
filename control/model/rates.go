package model

// Rates of services and real servers, as IPVS's estimator computes them
// (ipvsadm --rate): what `director ipvsadm --rate` and the metrics show.

// Rates are per-second rates.
type Rates struct {
	CPS    uint64 `json:"cps"`     // new connections
	InPPS  uint64 `json:"in_pps"`  // packets client to real server
	OutPPS uint64 `json:"out_pps"` // packets of the replies
	InBPS  uint64 `json:"in_bps"`  // bytes client to real server
	OutBPS uint64 `json:"out_bps"` // bytes of the replies
}

// ServiceRates are a service's rates and its real servers'.
type ServiceRates struct {
	ServiceKey
	Rates
	Reals []RealRates `json:"real_servers"`
}

// RealRates are a real server's rates.
type RealRates struct {
	RealKey
	Rates
}
