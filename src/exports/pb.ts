/** The generated protobuf messages and gRPC stubs (from gen/), named explicitly. */
export {
  UserInfo,
  EnvironmentInfo,
  SessionStartEvent,
  SessionEndEvent,
} from "../../gen/oneiric/session/v1/session_events.js";
export {
  SessionStatus,
  Session,
  EmitSessionStartRequest,
  EmitSessionStartResponse,
  EmitSessionEndRequest,
  EmitSessionEndResponse,
  GetSessionRequest,
  GetSessionResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  SessionServiceService,
  SessionServiceClient,
  type SessionServiceServer,
} from "../../gen/oneiric/session/v1/session_service.js";
export { VrpEvent, SessionState } from "../../gen/vrp/v1alpha1/vrp_event.js";
export {
  StreamEventsRequest,
  StreamEventsResponse,
  Ack,
  Rejection,
  SubscribeRequest,
  SubscribeResponse,
  VrpStreamServiceService,
  VrpStreamServiceClient,
  type VrpStreamServiceServer,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
export { Timestamp } from "../../gen/google/protobuf/timestamp.js";
export { Struct, Value, ListValue } from "../../gen/google/protobuf/struct.js";
