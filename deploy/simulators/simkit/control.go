package simkit

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// CompanyInput is the control API's company body; absent fields are left as they are.
type CompanyInput struct {
	Name       *string `json:"name"`
	Identifier *string `json:"identifier"`
	TypeID     *int64  `json:"typeId"`
	StatusID   *int64  `json:"statusId"`
	ParentID   *int64  `json:"parentId"`
	Active     *bool   `json:"active"`
	// KeepUpdated leaves the company's update time as it was (to model a vendor that forgets to
	// stamp a change).
	KeepUpdated bool `json:"keepUpdated"`
}

func (in CompanyInput) apply(c *Company) {
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Identifier != nil {
		c.Identifier = *in.Identifier
	}
	if in.TypeID != nil {
		c.TypeID = *in.TypeID
	}
	if in.StatusID != nil {
		c.StatusID = *in.StatusID
	}
	if in.ParentID != nil {
		c.ParentID = *in.ParentID
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
}

// The control API drives a simulated tool from tests and the dev stack. It is not part of any
// vendor's API and takes no credentials: simulators are dev-only and listen on loopback.
//
//	GET    /_control/companies             every company, deleted ones too
//	POST   /_control/companies             add one (CompanyInput); 201 with the company
//	POST   /_control/companies:generate    {"count":N,"prefix":"..."} adds N companies
//	PATCH  /_control/companies/{id}        change one (CompanyInput)
//	DELETE /_control/companies/{id}        delete one; ?mode=flag flags it deleted (ConnectWise's
//	                                       deletedFlag, status and lastUpdated untouched),
//	                                       ?mode=remove (default) makes it vanish
//	GET    /_control/stats                 request counts (Stats); DELETE resets them
//	GET    /_control/writes                {"writes":[Write...]}: every create, update (PATCH,
//	                                       PUT) and delete the vendor API applied, in order;
//	                                       DELETE empties the log. Requests refused (429, 5xx,
//	                                       injected faults, validation) are not writes, and
//	                                       neither are changes made through this control API.
//	POST   /_control/faults                queue a Fault: {"status":500,"count":3} answers the
//	                                       next 3 API requests 500; {"status":503,"for":"30s"}
//	                                       answers every API request 503 for 30 s from now (an
//	                                       outage); {"delay":"2s"} slows the next one. DELETE
//	                                       clears faults and switches
//	PUT    /_control/latency               {"latency":"5ms"} per-request time
//	PUT    /_control/credentials           {"reject":true} refuse every credential
//	PUT    /_control/quota                 {"limit":50,"window":"5s"} the request quota
//	PUT    /_control/webhook               {"url":"...","secret":"..."} where deliveries go
func (t *Tool) mountControl() {
	m := t.mux
	m.HandleFunc("GET /_control/companies", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, "application/json", t.Store.All())
	})
	m.HandleFunc("POST /_control/companies", func(w http.ResponseWriter, r *http.Request) {
		var in CompanyInput
		if !decode(w, r, &in) {
			return
		}
		c := Company{Active: true}
		in.apply(&c)
		if c.Name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		WriteJSON(w, http.StatusCreated, "application/json", t.Store.Add(c))
	})
	m.HandleFunc("POST /_control/companies:generate", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Count  int    `json:"count"`
			Prefix string `json:"prefix"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Prefix == "" {
			in.Prefix = "Generated Company"
		}
		for i := range in.Count {
			t.Store.Add(Company{Name: in.Prefix + " " + strconv.Itoa(i+1), Active: true})
		}
		WriteJSON(w, http.StatusCreated, "application/json", map[string]int{"added": in.Count, "total": t.Store.Len()})
	})
	m.HandleFunc("PATCH /_control/companies/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		var in CompanyInput
		if err != nil || !decode(w, r, &in) {
			if err != nil {
				http.Error(w, "bad id", http.StatusBadRequest)
			}
			return
		}
		c, ok := t.Store.Update(id, in.KeepUpdated, in.apply)
		if !ok {
			http.NotFound(w, r)
			return
		}
		WriteJSON(w, http.StatusOK, "application/json", c)
	})
	m.HandleFunc("DELETE /_control/companies/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		var ok bool
		if r.URL.Query().Get("mode") == "flag" {
			_, ok = t.Store.SoftDelete(id)
		} else {
			_, ok = t.Store.Remove(id)
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_control/stats", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, "application/json", t.Acct.Snapshot())
	})
	m.HandleFunc("DELETE /_control/stats", func(w http.ResponseWriter, _ *http.Request) {
		t.Acct.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_control/writes", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, "application/json", map[string][]Write{"writes": t.Writes()})
	})
	m.HandleFunc("DELETE /_control/writes", func(w http.ResponseWriter, _ *http.Request) {
		t.ResetWrites()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_control/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		t.Faults.Inject(f)
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_control/faults", func(w http.ResponseWriter, _ *http.Request) {
		t.Faults.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PUT /_control/latency", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Latency Duration `json:"latency"`
		}
		if !decode(w, r, &in) {
			return
		}
		t.Faults.SetLatency(time.Duration(in.Latency))
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PUT /_control/credentials", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Reject bool `json:"reject"`
		}
		if !decode(w, r, &in) {
			return
		}
		t.Faults.SetRejectCredentials(in.Reject)
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PUT /_control/quota", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Limit  int      `json:"limit"`
			Window Duration `json:"window"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Window <= 0 {
			http.Error(w, "window must be positive", http.StatusBadRequest)
			return
		}
		t.SetQuota(in.Limit, time.Duration(in.Window))
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PUT /_control/webhook", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		}
		if !decode(w, r, &in) {
			return
		}
		t.SetWebhook(in.URL, in.Secret)
		w.WriteHeader(http.StatusNoContent)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		http.Error(w, "bad JSON body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}
