/**
 * v2 database instances. The references describe only their creation; per-timeline
 * databases are created by the service itself, and a manual one is bound to a revision in
 * the deploy request (`production.databases`).
 *
 * @module
 */
import type { HttpClient } from "../http.ts";
import type { CreateDatabaseInstanceRequest, DatabaseInstance } from "./types.ts";

/** `/database_instances`. */
export class V2Databases {
  #http: HttpClient;

  /** Uses `http` for every request. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** `POST /database_instances`: registers a bring-your-own Postgres server. */
  async createInstance(request: CreateDatabaseInstanceRequest): Promise<DatabaseInstance> {
    return await this.#http.json("POST", "/database_instances", { json: request });
  }
}
